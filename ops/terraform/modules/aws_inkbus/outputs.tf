output "cluster_name" {
  description = "EKS cluster: `aws eks update-kubeconfig --name <this>`, then `kubectl apply -k ops/k8s/overlays/<env>`."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "EKS API endpoint (private)."
  value       = aws_eks_cluster.this.endpoint
}

output "ecr_repository_url" {
  description = "Push the image here (`make image-push IMAGE=<this>`); the overlay's image name."
  value       = aws_ecr_repository.inkbus.repository_url
}

output "models_bucket" {
  description = "S3 bucket of released model artifacts."
  value       = aws_s3_bucket.models.bucket
}

output "broker_amqp_endpoint" {
  description = "Amazon MQ AMQPS endpoint, for the Secret's broker-url."
  value       = aws_mq_broker.rabbitmq.instances[0].endpoints[0]
}

output "broker_secret_arn" {
  description = "Secrets Manager secret holding the broker's user and password."
  value       = aws_secretsmanager_secret.mq.arn
}

output "edge_target_group_arn" {
  description = "Target group of the edge pods (TargetGroupBinding in the cluster)."
  value       = aws_lb_target_group.edge.arn
}

output "alb_dns_name" {
  description = "Point the public host name (CNAME/alias) here."
  value       = aws_lb.edge.dns_name
}

output "model_registry_uri" {
  description = "INKBUS_MODEL_REGISTRY of this deployment (the overlay's configmap-registry-patch.yaml)."
  value       = "s3://${aws_s3_bucket.models.bucket}/registry"
}

output "learning_loop_role_arn" {
  description = "IAM role the learning loop's service account (inkbus-loop) takes: writes the registry."
  value       = aws_iam_role.loop.arn
}

output "gpu_node_group" {
  description = "The GPU node group's name (null with gpu_node_max = 0): GPU workers go there with ops/k8s/overlays/prod-gpu."
  value       = one(aws_eks_node_group.gpu[*].node_group_name)
}

output "alb_zone_id" {
  description = "Hosted zone of the ALB, for Route 53 alias records (latency routing between regions)."
  value       = aws_lb.edge.zone_id
}

output "alb_security_group_id" {
  description = "Security group of the ALB: the TargetGroupBinding lets it reach the edge pods."
  value       = aws_security_group.alb.id
}
