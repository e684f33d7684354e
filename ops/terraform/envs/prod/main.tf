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
  node_min           = 3
  node_max           = 20
  gpu_node_min       = 1
  gpu_node_max       = 4                  # GPU workers: deploy ops/k8s/overlays/prod-gpu
  mq_deployment_mode = "CLUSTER_MULTI_AZ" # three broker nodes; quorum queues survive one
  certificate_arn    = var.certificate_arn
  alarm_topic_arn    = var.alarm_topic_arn
  tags               = local.tags
}

module "ml" {
  source     = "../../modules/gcp_ml"
  name       = local.name
  project_id = var.gcp_project_id
  region     = var.gcp_region
  labels     = { app = "inkbus", environment = var.environment }
}
