# An OPA policy on llmplan's plan.json (see docs/policies.md):
#   conftest test --policy examples/policies/opa --namespace llmplan plan.json
#   opa eval --format pretty --data examples/policies/opa --input plan.json data.llmplan.deny
package llmplan

import rego.v1

# Every model, as it will be configured once the plan is applied, runs with
# strict compliance.
deny contains message if {
	some model in input.planned_values.root_module.resources
	model.type == "llm_model_configuration"
	model.values.compliance_mode != "strict"
	message := sprintf("%s: compliance_mode is %s, not strict", [model.address, model.values.compliance_mode])
}
