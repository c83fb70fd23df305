# No privileged containers (privileged: true, or securityContext.privileged: true).
# One rule body per form (see no_host_network: no helper call for every change).
package stackwright.lib.no_privileged

import rego.v1

deny contains message(c) if {
	some c in input.changes
	c.after.privileged == true
	c.action != "delete"
}

deny contains message(c) if {
	some c in input.changes
	c.after.securityContext.privileged == true
	c.action != "delete"
}

message(c) := concat("", [c.address, ": runs a privileged container (drop privileged: true)"])
