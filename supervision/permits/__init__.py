"""行政审批: permit case types and the certificates they issue."""
