package stackwright.lib.tests

import rego.v1

test_privileged_denied if {
	found := data.stackwright.lib.no_privileged.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"privileged": true}}]
	count(found) == 1
}

test_host_network_denied if {
	found := data.stackwright.lib.no_host_network.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"networks": ["host"]}}]
	count(found) == 1
}

test_limits_required if {
	found := data.stackwright.lib.resource_limits.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"resources": {"memory": "64m"}}}]
	found == {"Service/a: no resource limit for cpus (set resources.cpus)"}
}

test_digest_in_prod if {
	found := data.stackwright.lib.image_digest.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"image": "nginx:latest"}, "refs": {}}]
		with input.environment as "prod"
	count(found) == 1
}

test_digest_not_needed_in_dev if {
	found := data.stackwright.lib.image_digest.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"image": "nginx:latest"}, "refs": {}}]
		with input.environment as "dev"
	count(found) == 0
}

test_built_image_is_pinned if {
	found := data.stackwright.lib.image_digest.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"image": "localhost/app:prod-1"}, "refs": {"image": "Image/app"}}]
		with input.environment as "prod"
	count(found) == 0
}

test_public_listener_without_tls if {
	found := data.stackwright.lib.listener_tls.deny with input.changes as [{"address": "LoadBalancer/edge", "kind": "LoadBalancer", "action": "create", "after": {"address": "0.0.0.0", "http": {"port": 80}}}]
	count(found) == 1
}

test_loopback_listener_allowed if {
	found := data.stackwright.lib.listener_tls.deny with input.changes as [{"address": "LoadBalancer/edge", "kind": "LoadBalancer", "action": "create", "after": {"http": {"port": 80}}}]
	count(found) == 0
}

test_literal_secret_denied if {
	found := data.stackwright.lib.secret_refs.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"env": {"DB_PASSWORD": "hunter2", "MODE": "x"}}, "refs": {}}]
	count(found) == 1
}

test_referenced_secret_allowed if {
	found := data.stackwright.lib.secret_refs.deny with input.changes as [{"address": "Service/a", "kind": "Service", "action": "create", "after": {"env": {"API_TOKEN": "(sensitive)"}}, "refs": {"env.API_TOKEN": "Secret/t"}}]
	count(found) == 0
}

test_whole_plan_one_result_per_change if {
	plan := [
		{"address": "Service/a", "kind": "Service", "action": "create", "after": {"privileged": true}},
		{"address": "Service/b", "kind": "Service", "action": "update", "after": {"securityContext": {"privileged": true}}},
		{"address": "Service/c", "kind": "Service", "action": "create", "after": {"privileged": false}},
		{"address": "Service/d", "kind": "Service", "action": "delete", "after": {"privileged": true}},
	]
	found := data.stackwright.lib.no_privileged.deny with input.changes as plan
	found == {
		"Service/a: runs a privileged container (drop privileged: true)",
		"Service/b: runs a privileged container (drop privileged: true)",
	}
}
