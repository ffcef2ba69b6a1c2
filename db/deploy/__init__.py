"""Files a deployment (docker/compose.yaml) needs, made from the station file: the MQTT broker's
ACL and password file, the lab's TLS certificates and the secrets layout. Nothing here runs a
service; `trackerdcs stack` writes these, plain compose commands run the stack."""
