// Node-RED settings for the tracker-dcs flow. Everything comes from the environment:
//   NODE_RED_HOST (127.0.0.1), NODE_RED_PORT (1880), NODE_RED_USER_DIR (./data),
//   MQTT_HOST / MQTT_PORT: the broker the tracker-dcs bridge publishes to.
const path = require("path");

module.exports = {
    uiHost: process.env.NODE_RED_HOST || "127.0.0.1",
    uiPort: parseInt(process.env.NODE_RED_PORT || "1880", 10),
    userDir: process.env.NODE_RED_USER_DIR || path.join(__dirname, "data"),
    flowFile: process.env.NODE_RED_FLOW_FILE || "flows.json",
    credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || "tracker-dcs-not-secret",
    httpAdminRoot: "/admin",
    httpNodeRoot: "/",
    ui: { path: "ui" },
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    runtimeState: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
    logging: { console: { level: "info", metrics: false, audit: false } },
    functionExternalModules: false,
};
