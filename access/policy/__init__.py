"""access/policy"""
