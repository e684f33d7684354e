locals {
  name = "inkbus-${var.environment}"
  tags = { app = "inkbus", environment = var.environment, managed-by = "terraform" }
}

module "network" {
  source = "../../modules/aws_network"
  name   = local.name
  azs    = var.azs
  tags   = local.tags
}

module "app" {
  source             = "../../modules/aws_inkbus"
  name               = local.name
  vpc_id             = module.network.vpc_id
  vpc_cidr_block     = module.network.vpc_cidr_block
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  node_min           = 1
  node_max           = 3
  gpu_node_min       = 0
  gpu_node_max       = 0 # no GPU workers in dev
  certificate_arn    = var.certificate_arn
  alarm_topic_arn    = var.alarm_topic_arn
  k8s_namespace      = "inkbus-dev" # ops/k8s/overlays/dev
  tags               = local.tags
}

module "ml" {
  source     = "../../modules/gcp_ml"
  name       = local.name
  project_id = var.gcp_project_id
  region     = var.gcp_region
  labels     = { app = "inkbus", environment = var.environment }
}
