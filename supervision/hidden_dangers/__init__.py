"""隐患排查治理: hidden-danger reports, rectification, verification and 挂牌督办, as case types of the case engine."""
