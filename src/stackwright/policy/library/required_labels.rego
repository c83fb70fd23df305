# Every resource of the labelled kinds carries the required labels (owner, team, cost-center).
# Params: required_labels, labelled_kinds.
package stackwright.lib.required_labels

import rego.v1

default required := ["owner", "team", "cost-center"]

required := value if value := data.params.required_labels

default kinds := ["Service", "Job", "CronJob", "Database", "Cache", "LoadBalancer", "Image"]

kinds := value if value := data.params.labelled_kinds

required_set := {l | some l in required}

# A set difference per change finds who lacks a label; only those build the message, with
# the missing labels in the order the params give them.
deny contains message(c) if {
	some c in input.changes
	c.kind in kinds
	c.action != "delete"
	have := {l | value := c.labels[l]; value != ""}
	count(required_set - have) > 0
}

message(c) := concat("", [c.address, ": missing required label(s) ", concat(", ", missing), " (metadata.labels needs ", concat(", ", required), ")"]) if {
	have := {l | value := c.labels[l]; value != ""}
	missing := [l | some l in required; not l in have]
}
