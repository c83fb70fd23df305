# No host networking (network/networkMode "host", "host" among networks, hostNetwork: true).
# One rule body per form, each a single look-up per change: regorus answers that several
# times faster than one body calling a helper function for every change.
package stackwright.lib.no_host_network

import rego.v1

deny contains message(c) if {
	some c in input.changes
	c.after.network == "host"
	c.action != "delete"
}

deny contains message(c) if {
	some c in input.changes
	c.after.networkMode == "host"
	c.action != "delete"
}

deny contains message(c) if {
	some c in input.changes
	c.after.hostNetwork == true
	c.action != "delete"
}

deny contains message(c) if {
	some c in input.changes
	"host" in c.after.networks
	c.action != "delete"
}

message(c) := concat("", [c.address, ": uses the host network (give it its own Network)"])
