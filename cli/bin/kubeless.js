#!/usr/bin/env node
// `kubeless` in a checkout: runs the tsc build (dist/main.js; `npm run build` first). The package's
// bin is the single-file bundle, dist/kubeless.mjs (`npm run -s cli:pack`, README "The CLI").
import("../dist/main.js");
