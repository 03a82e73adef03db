#!/usr/bin/env python3
"""infra/template.yaml as CloudFormation will run it: the AWS::Include of the API definition
inserted, then the SAM transform (aws-sam-translator, the library CloudFormation's
AWS::Serverless transform is built from); the result is written as JSON for cfn-lint.

    python tools/sam_transform.py infra/template.yaml OUT.json

CloudFormation evaluates nested transforms first, so the included file (the generated
infra/api/apigateway.openapi.yaml) is what SAM sees as the API's DefinitionBody. `sam
deploy` replaces each local CodeUri with the S3 location it uploads the code to; here a
placeholder s3:// URI stands in for it. Fails, naming every cause, when SAM refuses the
template, and checks what SAM made of the parts it generates: exactly one API stage, and
no definition edited behind the generated file's back.
"""

import copy
import json
import logging
import os
import sys

import yaml
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

INTRINSICS = [
    "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If",
    "ImportValue", "Join", "Not", "Or", "Select", "Split", "Sub",
]


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms read as their long forms."""


def _construct(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        if name in ("Ref", "Condition"):
            return {name: value}
        return {"Fn::" + name: value}

    return construct


for _name in INTRINSICS + ["Ref", "Condition"]:
    Loader.add_constructor("!" + _name, _construct(_name))


class NoManagedPolicies(ManagedPolicyLoader):
    """The template names no managed policy by name, so no IAM lookup is needed."""

    def __init__(self):  # pylint: disable=super-init-not-called
        pass

    def load(self):
        return {}


def include(template, template_dir):
    """Replaces each Fn::Transform AWS::Include with the local file it names."""
    if isinstance(template, dict):
        transform_ = template.get("Fn::Transform")
        if isinstance(transform_, dict) and transform_.get("Name") == "AWS::Include":
            location = transform_["Parameters"]["Location"]
            with open(os.path.join(template_dir, location), encoding="utf-8") as f:
                # AWS::Include accepts no YAML short forms: a plain safe_load must do.
                return yaml.safe_load(f)
        return {k: include(v, template_dir) for k, v in template.items()}
    if isinstance(template, list):
        return [include(v, template_dir) for v in template]
    return template


def main():
    source, out = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        template = yaml.load(f, Loader)  # noqa: S506 (a SafeLoader subclass)
    template = include(template, os.path.dirname(os.path.abspath(source)))
    included = copy.deepcopy(template["Resources"]["Api"]["Properties"]["DefinitionBody"])
    for r in template["Resources"].values():
        if r.get("Type") == "AWS::Serverless::Function":
            code = r["Properties"]["CodeUri"].rstrip("/").split("/")[-1]
            r["Properties"]["CodeUri"] = f"s3://sam-artifacts-placeholder/{code}.zip"

    # The translator needs a region for ARNs; it makes no AWS call with it.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    try:
        result = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"SAM refused the template: {cause.message}", file=sys.stderr)
        sys.exit(1)

    resources = result["Resources"]
    stages = [k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::Stage"]
    if len(stages) != 1:
        sys.exit(f"expected one API stage, SAM generated {stages}")
    body = resources["Api"]["Properties"].get("Body")
    if body != included:
        sys.exit("SAM changed the API definition it was given (Auth, Cors or events on the Api?)")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    kinds = sorted({r["Type"] for r in resources.values()})
    print(f"SAM transform: {len(resources)} resources of {len(kinds)} types, stage {stages[0]}, "
          f"API definition unchanged ({len(body['paths'])} paths)")


if __name__ == "__main__":
    main()
