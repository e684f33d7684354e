output "cluster_name" {
  description = "EKS cluster of this environment."
  value       = module.app.cluster_name
}

output "ecr_repository_url" {
  description = "Image repository (IMAGE of `make image-push` and `make deploy`)."
  value       = module.app.ecr_repository_url
}

output "alb_dns_name" {
  description = "Public entry point."
  value       = module.app.alb_dns_name
}

output "models_bucket" {
  description = "S3 bucket of served model artifacts."
  value       = module.app.models_bucket
}

output "ml_bucket" {
  description = "GCS bucket of datasets and training output."
  value       = module.ml.bucket
}

output "training_instance_template" {
  description = "GPU training instance template."
  value       = module.ml.instance_template
}

output "model_registry_uri" {
  description = "INKBUS_MODEL_REGISTRY for ops/k8s/overlays/dev/configmap-registry-patch.yaml."
  value       = module.app.model_registry_uri
}
