# Workloads set CPU and memory limits (resources.cpus and resources.memory).
# Params: limited_kinds.
package stackwright.lib.resource_limits

import rego.v1

default kinds := ["Service"]

kinds := value if value := data.params.limited_kinds

deny contains msg if {
	some c in input.changes
	c.kind in kinds
	c.action != "delete"
	missing := [f | some f in ["cpus", "memory"]; not has_limit(c.after, f)]
	count(missing) > 0
	msg := concat("", [c.address, ": no resource limit for ", concat(" and ", missing), " (set resources.", missing[0], ")"])
}

has_limit(spec, field) if spec.resources[field]
