// The toy module's console plug-in: proves a module's script is listed in the boot JSON, served from its package
// and started by main.js through the plug-in interface (core/manifest.py), sharing the console's modules.

import { BOOT } from "../../console/boot.js";

export function init(map, host) {
  window.onemap.toy = { started: true, lang: BOOT.lang, layers: map.getLayers().getLength(),
    host: Object.keys(host).sort() };
  return {};
}
