"""Permit certificates over HTTP (thin: the rules are in ``certificates``).

  GET  /api/permits/certificates/<number>          the certificate (within the caller's data scope; else 404)
  GET  /api/permits/certificates/<number>/pdf      the certificate as PDF (Chinese text, QR of the verification URL)
  POST /api/permits/certificates/<number>/revoke   revoke it, with a reason (city regulators)
  GET  /api/permits/verify/<number>                public: the certificate's status (JSON)
  GET  /verify/permits/<number>                    public: the same as a page (what the QR code opens)

The permit applications themselves are cases of the case engine (``/api/cases``, case type
``hazchem_business_licence``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from access.policy.rowscope import LayerAccess
from core import i18n
from core.config import public_url
from core.database import get_db
from core.errors import NotFound
from core.identity import current_identity
from core.params import json_object
from core.responses import private
from supervision.permits import certificates, pdf

bp = Blueprint("permits", __name__, url_prefix="/api/permits")
verify_bp = Blueprint("permit_verification", __name__, template_folder="templates")

PAGE_STRINGS = {
    "zh-CN": {"title": "许可证书核验", "number": "证书编号", "status": "证书状态", "kind": "证书类型",
              "holder": "持证单位", "validity": "有效期", "unknown": "未找到该编号的证书"},
    "en": {"title": "Certificate verification", "number": "Certificate number", "status": "Status",
           "kind": "Certificate", "holder": "Holder", "validity": "Valid", "unknown": "No certificate has this number"},
}


@bp.get("/certificates/<number>")
def certificate(number: str) -> Response:
    return private(jsonify(certificates.get(get_db(), number, access=LayerAccess.for_request())))


@bp.get("/certificates/<number>/pdf")
def certificate_pdf(number: str) -> Response:
    cert = certificates.get(get_db(), number, access=LayerAccess.for_request())
    url = certificates.verification_url(public_url(current_app.config["ONEMAP"]), cert["number"])
    response = Response(pdf.render(cert, url), mimetype="application/pdf")
    response.headers["Content-Disposition"] = "inline; filename=certificate.pdf"
    return private(response)


@bp.post("/certificates/<number>/revoke")
def revoke(number: str) -> Response:
    body = json_object(request.get_json(silent=True))
    return private(jsonify(certificates.revoke(get_db(), number, body, access=LayerAccess.for_request(),
                                                identity=current_identity())))


@bp.get("/verify/<number>")
def verify_json(number: str) -> Response:
    return private(jsonify(certificates.verification(get_db(), number)))


@verify_bp.get("/verify/permits/<number>")
def verify_page(number: str) -> tuple[str, int]:
    lang = i18n.normalise_lang(request.args.get("lang"))
    try:
        result, status = certificates.verification(get_db(), number), 200
    except NotFound:
        result, status = None, 404
    return render_template("permits/verify.html", lang=lang, s=PAGE_STRINGS[lang], result=result), status
