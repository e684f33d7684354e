# Two serving regions of one Inkbus: each has its own VPC, EKS, Amazon MQ cluster and ALB (the regional part);
# Route 53 latency records send each learner to the nearer ALB; the VPCs are peered so the brokers can
# federate `inkbus.events` (predictions to the home region's feedback engines, feedback back), docs/SCALING.md.
locals {
  name = "inkbus-${var.environment}"
  tags = { app = "inkbus", environment = var.environment, managed-by = "terraform" }
  regions = {
    home   = { region = var.home_region, alb = module.app_home.alb_dns_name, zone = module.app_home.alb_zone_id }
    second = { region = var.second_region, alb = module.app_second.alb_dns_name, zone = module.app_second.alb_zone_id }
  }
}

module "network_home" {
  source     = "../../modules/aws_network"
  providers  = { aws = aws.home }
  name       = "${local.name}-home"
  cidr_block = var.home_cidr_block
  azs        = var.home_azs
  tags       = local.tags
}

module "app_home" {
  source             = "../../modules/aws_inkbus"
  providers          = { aws = aws.home }
  name               = "${local.name}-home"
  vpc_id             = module.network_home.vpc_id
  vpc_cidr_block     = module.network_home.vpc_cidr_block
  public_subnet_ids  = module.network_home.public_subnet_ids
  private_subnet_ids = module.network_home.private_subnet_ids
  node_min           = 3
  node_max           = 20
  mq_deployment_mode = "CLUSTER_MULTI_AZ"
  peer_cidr_blocks   = [var.second_cidr_block]
  certificate_arn    = var.home_certificate_arn
  alarm_topic_arn    = var.home_alarm_topic_arn
  tags               = local.tags
}

module "network_second" {
  source     = "../../modules/aws_network"
  providers  = { aws = aws.second }
  name       = "${local.name}-second"
  cidr_block = var.second_cidr_block
  azs        = var.second_azs
  tags       = local.tags
}

module "app_second" {
  source             = "../../modules/aws_inkbus"
  providers          = { aws = aws.second }
  name               = "${local.name}-second"
  vpc_id             = module.network_second.vpc_id
  vpc_cidr_block     = module.network_second.vpc_cidr_block
  public_subnet_ids  = module.network_second.public_subnet_ids
  private_subnet_ids = module.network_second.private_subnet_ids
  node_min           = 3
  node_max           = 20
  mq_deployment_mode = "CLUSTER_MULTI_AZ"
  peer_cidr_blocks   = [var.home_cidr_block]
  certificate_arn    = var.second_certificate_arn
  alarm_topic_arn    = var.second_alarm_topic_arn
  tags               = local.tags
}

# --- the brokers reach each other privately: inter-region VPC peering, routes both ways
resource "aws_vpc_peering_connection" "home_second" {
  provider    = aws.home
  vpc_id      = module.network_home.vpc_id
  peer_vpc_id = module.network_second.vpc_id
  peer_region = var.second_region
  tags        = merge(local.tags, { Name = "${local.name}-home-second" })
}

resource "aws_vpc_peering_connection_accepter" "second" {
  provider                  = aws.second
  vpc_peering_connection_id = aws_vpc_peering_connection.home_second.id
  auto_accept               = true
  tags                      = merge(local.tags, { Name = "${local.name}-home-second" })
}

resource "aws_route" "home_to_second" {
  provider                  = aws.home
  route_table_id            = module.network_home.private_route_table_id
  destination_cidr_block    = var.second_cidr_block
  vpc_peering_connection_id = aws_vpc_peering_connection.home_second.id
}

resource "aws_route" "second_to_home" {
  provider                  = aws.second
  route_table_id            = module.network_second.private_route_table_id
  destination_cidr_block    = var.home_cidr_block
  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.second.id
}

# --- learners reach the nearer region: latency records, withdrawn while a region's edges are unhealthy
resource "aws_route53_record" "edge" {
  provider       = aws.home
  for_each       = local.regions
  zone_id        = var.zone_id
  name           = var.host_name
  type           = "A"
  set_identifier = each.key
  latency_routing_policy {
    region = each.value.region
  }
  alias {
    name                   = each.value.alb
    zone_id                = each.value.zone
    evaluate_target_health = true
  }
}
