// Node-RED settings in the docker compose stack (docker/compose.yaml), behind the TLS gateway at
// /nodered/. Secrets are read from /run/secrets files here, so none is in the container's
// environment (docker inspect) or in the flows (tests/test_stack_nodered.py runs this file outside a
// container, with NODE_RED_SECRETS_DIR, NODE_RED_USER_DIR and NODE_RED_PORT pointing elsewhere):
//   nodered_credential_secret  encrypts flows_cred.json (keep it in the escrow: without it the
//                              credentials cannot be read back)
//   nodered_admin_bcrypt       the editor's login (user "admin"; trackerdcs stack init makes it)
//   mqtt_nodered_pw            the broker account "nodered" (its ACL: docker/generated/mosquitto/acl)
const fs = require("fs");

const SECRETS = process.env.NODE_RED_SECRETS_DIR || "/run/secrets";
const USER_DIR = process.env.NODE_RED_USER_DIR || "/data";

function secret(name) {
    return fs.readFileSync(SECRETS + "/" + name, "utf8").trim();
}

process.env.MQTT_USER = "nodered";
process.env.MQTT_PASSWORD = secret("mqtt_nodered_pw");  // for the flows' ${MQTT_PASSWORD}, in this process only
// The user folder is /data (the image's entrypoint says --userDir /data; compose.yaml mounts
// generated/nodered/data there): the flows `trackerdcs stack init` generates (trackerdcs nodered
// export, the broker over TLS, its account in flows_cred.json, which Node-RED reads from the user
// folder). What is deployed from the editor is written back there, and a re-init keeps every flow
// that is not generated.

module.exports = {
    uiHost: process.env.NODE_RED_HOST || "0.0.0.0",
    uiPort: Number(process.env.NODE_RED_PORT || 1880),
    userDir: USER_DIR,
    flowFile: USER_DIR + "/flows.json",  // absolute: a relative one is looked for in the working folder first
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
