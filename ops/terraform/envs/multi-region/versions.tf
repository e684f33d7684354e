terraform {
  required_version = ">= 1.6"
  # State in S3 with locking; the bucket and table are given at `terraform init -backend-config=...`.
  backend "s3" {}
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

# The home region holds what is global (the progress store, the model registry, the feedback engines, the
# bots and the telemetry sink); every region serves its learners' live recognitions (docs/SCALING.md).
provider "aws" {
  alias  = "home"
  region = var.home_region
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "second"
  region = var.second_region
  default_tags {
    tags = local.tags
  }
}
