output "bucket" {
  description = "GCS bucket of datasets (INKBUS_DATA_DIR is synced from gs://<this>/data), checkpoints and models."
  value       = google_storage_bucket.ml.name
}

output "instance_template" {
  description = "Instance template of a GPU training run (`gcloud compute instances create --source-instance-template`)."
  value       = google_compute_instance_template.training.self_link
}

output "training_service_account" {
  description = "Identity of the training instances."
  value       = google_service_account.training.email
}

output "model_registry_uri" {
  description = "INKBUS_MODEL_REGISTRY of a deployment serving from GCP."
  value       = "gs://${google_storage_bucket.ml.name}/registry"
}

output "serving_hmac_access_id" {
  description = "AWS_ACCESS_KEY_ID of the serving pods for the gs:// registry (Cloud Storage's S3-compatible API)."
  value       = google_storage_hmac_key.serving.access_id
}

output "serving_hmac_secret" {
  description = "AWS_SECRET_ACCESS_KEY of the serving pods for the gs:// registry: put it in the Secret, never in git."
  value       = google_storage_hmac_key.serving.secret
  sensitive   = true
}
