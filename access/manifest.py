"""Access control (authentication, the one policy, audit) as a plug-in area, through the same manifest as a module."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="access",
    label={"zh-CN": "身份认证、权限与审计", "en": "Authentication, access and audit"},
    blueprints=(
        "access.authn.views:bp",
        "access.authn.api:bp",
        "access.security_views:bp",
        "access.audit.views:bp",
        "access.system_views:bp",
    ),
    cli_groups=("access.cli:audit_group", "access.cli:user_group"),
    model_modules=("access.models",),
    openapi="access:openapi.yaml",
    config="access.config:SECTION",
    # the audit log's owner role and hardening function need a superuser, once per new database
    cluster_setup=("access.audit.schema:install_hardening",),
    # migration a002 encrypts stored TOTP secrets with the deployment's key ring (asked for by name, never imported)
    migration_context={"totp_keys": "access.authn.totp_keys:TotpKeys.from_config"},
    demo_loader="access.demo:load_demo",
)
