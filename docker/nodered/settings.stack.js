// Node-RED settings in the docker compose stack (docker/compose.yaml), behind the TLS gateway at
// /nodered/. Secrets are read from /run/secrets files here, so none is in the container's
// environment (docker inspect) or in the flows:
//   nodered_credential_secret  encrypts flows_cred.json (keep it in the escrow: without it the
//                              credentials cannot be read back)
//   nodered_admin_bcrypt       the editor's login (user "admin"; trackerdcs stack init makes it)
//   mqtt_nodered_pw            the broker account "nodered" (its ACL: docker/generated/mosquitto/acl)
const fs = require("fs");

function secret(name) {
    return fs.readFileSync("/run/secrets/" + name, "utf8").trim();
}

process.env.MQTT_USER = "nodered";
process.env.MQTT_PASSWORD = secret("mqtt_nodered_pw");  // for the flows' ${MQTT_PASSWORD}, in this process only

module.exports = {
    uiHost: "0.0.0.0",
    uiPort: 1880,
    userDir: "/data",
    flowFile: "flows.json",
    flowFilePretty: true,
    credentialSecret: secret("nodered_credential_secret"),
    httpAdminRoot: "/nodered",
    httpNodeRoot: "/nodered/api",
    ui: { path: "ui" },
    adminAuth: {
        type: "credentials",
        users: [{ username: "admin", password: secret("nodered_admin_bcrypt"), permissions: "*" }],
    },
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    runtimeState: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
    logging: { console: { level: "info", metrics: false, audit: true } },
    functionExternalModules: false,
};
