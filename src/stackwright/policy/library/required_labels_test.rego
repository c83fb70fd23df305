package stackwright.lib.required_labels

import rego.v1

test_unlabelled_service_denied if {
	found := deny with input.changes as [{"address": "Service/web", "kind": "Service", "action": "create", "labels": {"owner": "ann"}}]
	found == {"Service/web: missing required label(s) team, cost-center (metadata.labels needs owner, team, cost-center)"}
}

test_labelled_service_allowed if {
	found := deny with input.changes as [{"address": "Service/web", "kind": "Service", "action": "create", "labels": {"owner": "ann", "team": "pay", "cost-center": "42"}}]
	count(found) == 0
}

test_delete_not_checked if {
	found := deny with input.changes as [{"address": "Service/web", "kind": "Service", "action": "delete", "labels": {}}]
	count(found) == 0
}

test_params_override_required if {
	found := deny with input.changes as [{"address": "Job/j", "kind": "Job", "action": "create", "labels": {"owner": "ann"}}]
		with data.params.required_labels as ["owner"]
	count(found) == 0
}
