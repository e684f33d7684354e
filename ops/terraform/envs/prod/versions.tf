terraform {
  required_version = ">= 1.6"
  # State in S3 with locking; the bucket and table are given at `terraform init -backend-config=...`.
  backend "s3" {}
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = local.tags
  }
}

provider "google" {
  project = var.gcp_project_id
  region  = var.gcp_region
}
