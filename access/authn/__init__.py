"""access/authn"""
