export function init() { return {}; }
