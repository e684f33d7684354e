variable "name" {
  type        = string
  description = "Prefix of every resource name, e.g. inkbus-prod."
}

variable "project_id" {
  type        = string
  description = "GCP project of the training side."
}

variable "region" {
  type        = string
  description = "Region of the bucket and the GPU instances (one with the chosen GPU type)."
  default     = "europe-west4"
}

variable "machine_type" {
  type        = string
  description = "Machine type of a training instance (the G2 family carries NVIDIA L4 GPUs)."
  default     = "g2-standard-8"
}

variable "gpu_type" {
  type        = string
  description = "Accelerator type attached to a training instance."
  default     = "nvidia-l4"
}

variable "gpu_count" {
  type        = number
  description = "GPUs per training instance."
  default     = 1
}

variable "training_image" {
  type        = string
  description = "Boot image of a training instance: a Deep Learning VM image with the CUDA driver."
  default     = "projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11"
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource."
  default     = {}
}
