# Every resource of the labelled kinds carries the required labels (owner, team, cost-center).
# Params: required_labels, labelled_kinds.
package stackwright.lib.required_labels

import rego.v1

default required := ["owner", "team", "cost-center"]

required := value if value := data.params.required_labels

default kinds := ["Service", "Job", "CronJob", "Database", "Cache", "LoadBalancer", "Image"]

kinds := value if value := data.params.labelled_kinds

deny contains msg if {
	some c in input.changes
	c.kind in kinds
	have := {l | value := c.labels[l]; value != ""}
	missing := [l | some l in required; not l in have]
	count(missing) > 0
	c.action != "delete"
	msg := concat("", [c.address, ": missing required label(s) ", concat(", ", missing), " (metadata.labels needs ", concat(", ", required), ")"])
}
