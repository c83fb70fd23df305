# No public listener without TLS: a load balancer bound beyond loopback serves HTTP only with
# tls set. Params: private_addresses.
package stackwright.lib.listener_tls

import rego.v1

default private := ["127.0.0.1", "localhost", "::1"]

private := value if value := data.params.private_addresses

deny contains msg if {
	some c in input.changes
	c.kind == "LoadBalancer"
	c.action != "delete"
	address := object.get(c.after, "address", "127.0.0.1")
	not address in private
	c.after.http
	not tls(c.after)
	msg := concat("", [c.address, ": listens on ", address, " without TLS (set tls, or bind 127.0.0.1)"])
}

tls(spec) if spec.tls

tls(spec) if spec.http.tls
