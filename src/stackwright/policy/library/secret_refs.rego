# Secrets only through secret references: an environment variable named like a secret
# (PASSWORD, TOKEN, SECRET, API_KEY, PRIVATE_KEY, CREDENTIAL) must come from a reference
# (secrets: [{ref: ...}] or ${{ Secret.name.value }}), never a literal in the spec.
package stackwright.lib.secret_refs

import rego.v1

secretish := `(passw(or)?d|secret|token|api_?key|private_?key|credential)`

deny contains msg if {
	some c in input.changes
	some name, value in c.after.env
	regex.match(secretish, lower(name))
	c.action != "delete"
	is_string(value)
	value != "(sensitive)"
	value != ""
	not referenced(c, concat("", ["env.", name]))
	msg := concat("", [c.address, ": env.", name, " holds a literal secret (deliver it with secrets: [{ref: ...}] or a ${{ Secret.name.value }} reference)"])
}

referenced(c, field) if c.refs[field]
