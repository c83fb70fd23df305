# No host networking (network/networkMode "host", "host" among networks, hostNetwork: true).
package stackwright.lib.no_host_network

import rego.v1

deny contains msg if {
	some c in input.changes
	host_network(c.after)
	c.action != "delete"
	msg := concat("", [c.address, ": uses the host network (give it its own Network)"])
}

host_network(spec) if spec.network == "host"

host_network(spec) if spec.networkMode == "host"

host_network(spec) if spec.hostNetwork == true

host_network(spec) if {
	some n in spec.networks
	n == "host"
}
