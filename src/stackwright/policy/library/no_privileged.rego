# No privileged containers (privileged: true, or securityContext.privileged: true).
package stackwright.lib.no_privileged

import rego.v1

deny contains msg if {
	some c in input.changes
	privileged(c.after)
	c.action != "delete"
	msg := concat("", [c.address, ": runs a privileged container (drop privileged: true)"])
}

privileged(spec) if spec.privileged == true

privileged(spec) if spec.securityContext.privileged == true
