"""A local build's environment against what real Jenkins' builds get from Configuration as
Code (`vpclab/render/jenkins/casc.yaml`): the same, apart from Jenkins' own variables and the
local image's differences, each listed with its reason. Nothing in it names a host, the lab,
a target or an endpoint: Deploy and Verify find those through the instance profile."""

from __future__ import annotations

import yaml

from vpclab.aws import jenkins_setup
from vpclab.pipeline import local


def _casc_env() -> dict[str, str]:
    casc = yaml.safe_load(jenkins_setup.casc_yaml())
    [props] = casc["jenkins"]["globalNodeProperties"]
    return {pair["key"]: pair["value"] for pair in props["envVars"]["env"]}


def _local_env() -> dict[str, str]:
    return local.build_env("git://198.51.100.253/microblog", "main", "us-east-1", "--index-url x")


def test_a_local_build_gets_what_jcasc_gives_real_jenkins_and_the_listed_differences():
    casc, built = _casc_env(), _local_env()
    assert set(local.CASC_ONLY) <= set(casc), "a listed difference names no JCasC variable"
    assert not set(local.LOCAL_IMAGE) & set(casc)
    expected = local.JENKINS_OWN | (set(casc) - set(local.CASC_ONLY)) | set(local.LOCAL_IMAGE)
    assert set(built) == expected
    assert all(
        reason.strip() for reason in [*local.CASC_ONLY.values(), *local.LOCAL_IMAGE.values()]
    )


def test_nothing_in_a_local_build_names_the_lab_its_hosts_or_the_control_plane():
    built = _local_env()
    for name in ("WEB_HOST", "APP_HOST", "VPCLAB_ARGS", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        assert name not in built
    assert not any(k.startswith(("AWS_", "VPCLAB_")) for k in set(built) - set(_casc_env()))
    for value in built.values():
        assert "--spec" not in value and "--target" not in value
