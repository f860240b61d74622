#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy --all`. Configuration: cdk.json context "scones"."""
import os

from aws_cdk import Environment

from stacks.app_builder import build_app

# Environment-agnostic unless the deployer's CDK_DEFAULT_* are set; no account id is hard-coded.
account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
env = Environment(account=account, region=region) if account and region else None

build_app(env=env).app.synth()
