"""The stack's generated files, in-process: the password file's hashes, the ACL's grants, the lab
certificates and `trackerdcs serve`'s fixed, advertised ports."""

from __future__ import annotations

import pytest
from cryptography import x509

from db.config.validation import load_station
from db.deploy import mosquitto_passwd, mqtt_acl, pki
from servers.serve import ServeError, server_args

from testkit import write_station

pytestmark = pytest.mark.unit


def test_password_lines_verify_and_refuse_a_wrong_password():
    line = mosquitto_passwd.hash_line("operator", "s3cret")
    assert line.startswith("operator:$7$101$")
    assert mosquitto_passwd.verify(line, "s3cret") and not mosquitto_passwd.verify(line, "s3cret!")
    assert mosquitto_passwd.hash_line("a", "pw", salt=b"0" * 12) == mosquitto_passwd.hash_line("a", "pw", salt=b"0" * 12)
    for user in ("", "a:b", "a b"):
        with pytest.raises(ValueError, match="MQTT user name"):
            mosquitto_passwd.hash_line(user, "pw")
    with pytest.raises(ValueError, match="empty password"):
        mosquitto_passwd.hash_line("a", "")


def test_the_acl_grants_exactly_the_station_files_request_topics(tmp_path):
    def allow_tango_test(raw):
        raw["external_devices"] = [{"name": "sys/tg_test/1", "mqtt": {"commands": ["SwitchStates"]}}]
        raw["bridge"]["mqtt"]["username"] = "dcs-bridge"

    station = load_station(write_station(tmp_path, allow_tango_test))
    topics = mqtt_acl.request_topics(station)
    assert "dcs/demo/hv/module1/voltage_setpoint/set" in topics and "dcs/demo/hv/module1/cmd/On" in topics
    assert "dcs/sys/tg_test/1/cmd/SwitchStates" in topics
    assert not [t for t in topics if t.endswith("/voltage_max/set")]
    grants = mqtt_acl.grants(station)
    assert {g.topic for g in grants["operator"] if g.access == "write"} == set(topics)
    assert [g.access for g in grants["viewer"]] == ["read"]
    text = mqtt_acl.render(station)
    assert "user dcs-bridge\ntopic write dcs/#\n" in text and "\nuser bridge\n" not in text
    assert not [line for line in text[:text.index("\nuser ")].splitlines() if line.startswith("topic ")], \
        "a topic line before the first user line grants anonymous clients"


def test_server_certificates_name_their_hosts_and_chain_to_the_lab_ca():
    ca_pem, ca_key = pki.make_ca()
    cert_pem, _ = pki.make_server_cert(ca_pem, ca_key, ["mosquitto", "localhost", "127.0.0.1"])
    ca, cert = x509.load_pem_x509_certificate(ca_pem), x509.load_pem_x509_certificate(cert_pem)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["mosquitto", "localhost"]
    assert [str(a) for a in alt.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    with pytest.raises(ValueError, match="at least one name"):
        pki.make_server_cert(ca_pem, ca_key, [])


def test_serve_listens_on_the_fixed_port_and_advertises_the_host(tmp_path):
    def fixed(raw):
        raw["servers"][0]["port"] = 45010

    station = load_station(write_station(tmp_path, fixed))
    name = station.station.servers[0].name
    args, env = server_args(station, name, publish="dcs.lab.example")
    assert args[:2] == name.split("/")
    assert args[2:] == ["-ORBendPoint", "giop:tcp::45010", "-ORBendPointPublish", "giop:tcp:dcs.lab.example:45010"]
    assert env["TANGO_ZMQ_EVENT_PORT"] == "45011" and env["TANGO_ZMQ_HEARTBEAT_PORT"] == "45012"
    with pytest.raises(ServeError, match="no port"):
        server_args(station, station.station.servers[1].name)
    with pytest.raises(ServeError, match="no server 'Nope/x'"):
        server_args(station, "Nope/x")


def test_init_makes_the_influxdb_v1_credentials_the_init_script_creates(tmp_path):
    from db.deploy.stack_files import init, read_secret

    out = tmp_path / "docker"
    init(load_station(write_station(tmp_path)), out)
    user, _, password = read_secret(out / "secrets", "influx_bridge_auth").partition(":")
    assert user == "bridge" and len(password) >= 32 and ":" not in password
    assert len(read_secret(out / "secrets", "influx_grafana_pw")) >= 32
    again = tmp_path / "again"
    init(load_station(write_station(tmp_path)), again)
    assert read_secret(again / "secrets", "influx_bridge_auth") != read_secret(out / "secrets", "influx_bridge_auth")
