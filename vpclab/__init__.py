"""vpclab: a lab kit for a segmented-VPC deployment of a Flask microblog."""

__version__ = "0.1.0"
