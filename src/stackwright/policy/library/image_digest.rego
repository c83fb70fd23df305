# In production, images are pinned by digest (image@sha256:...) or built here by an Image or
# BaseImage resource (whose tags are content hashes). Params: digest_environments.
package stackwright.lib.image_digest

import rego.v1

default environments := ["prod", "production"]

environments := value if value := data.params.digest_environments

deny contains msg if {
	input.environment in environments
	some c in input.changes
	image := c.after.image
	is_string(image)
	not contains(image, "@sha256:")
	not built_here(c)
	c.action != "delete"
	msg := concat("", [c.address, ": image ", image, " is not pinned by digest in ", input.environment, " (write image@sha256:..., or build it with an Image resource)"])
}

built_here(c) if startswith(c.refs.image, "Image/")

built_here(c) if startswith(c.refs.image, "BaseImage/")
