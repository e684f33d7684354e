output "cluster_names" {
  description = "EKS cluster of each region: deploy ops/k8s/overlays/prod to both (docs/SCALING.md)."
  value       = { home = module.app_home.cluster_name, second = module.app_second.cluster_name }
}

output "broker_amqp_endpoints" {
  description = "Amazon MQ AMQPS endpoint of each region: the federation upstreams of docs/SCALING.md."
  value       = { home = module.app_home.broker_amqp_endpoint, second = module.app_second.broker_amqp_endpoint }
}

output "edge_target_group_arns" {
  description = "Target group of each region's edges, for its TargetGroupBinding."
  value       = { home = module.app_home.edge_target_group_arn, second = module.app_second.edge_target_group_arn }
}

output "alb_security_group_ids" {
  description = "Security group of each region's ALB, for its TargetGroupBinding."
  value       = { home = module.app_home.alb_security_group_id, second = module.app_second.alb_security_group_id }
}

output "alb_dns_names" {
  description = "Each region's ALB; the public host name resolves to the nearer one."
  value       = { for k, r in local.regions : k => r.alb }
}
