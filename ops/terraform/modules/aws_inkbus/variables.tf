variable "name" {
  type        = string
  description = "Prefix of every resource name, e.g. inkbus-prod."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the app (module aws_network)."
}

variable "vpc_cidr_block" {
  type        = string
  description = "CIDR of the VPC: the broker accepts AMQP from inside it only."
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Subnets of the internet-facing ALB."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Subnets of the EKS nodes and the broker."
}

variable "kubernetes_version" {
  type        = string
  description = "EKS control plane version."
  default     = "1.33"
}

variable "node_instance_types" {
  type        = list(string)
  description = "EC2 types of the node group (CPU inference: compute optimised)."
  default     = ["c7i.xlarge"]
}

variable "node_min" {
  type        = number
  description = "Fewest nodes; KEDA and the HPA add pods, the cluster autoscaler adds nodes up to node_max."
  default     = 2
}

variable "node_max" {
  type        = number
  description = "Most nodes."
  default     = 10
}

variable "gpu_node_instance_types" {
  type        = list(string)
  description = "EC2 types of the GPU node group (one NVIDIA GPU each: a GPU worker pod takes a whole GPU)."
  default     = ["g5.xlarge"]
}

variable "gpu_node_min" {
  type        = number
  description = "Fewest GPU nodes; at least the GPU workers' minReplicaCount (1) when GPU workers are deployed."
  default     = 1
  validation {
    condition     = var.gpu_node_min >= 0 && var.gpu_node_min <= var.gpu_node_max
    error_message = "gpu_node_min must be between 0 and gpu_node_max."
  }
}

variable "gpu_node_max" {
  type        = number
  description = "Most GPU nodes; 0 leaves the GPU node group out (CPU workers only, ops/k8s/overlays/prod)."
  default     = 0
}

variable "mq_instance_type" {
  type        = string
  description = "Amazon MQ broker instance type."
  default     = "mq.m7g.large"
}

variable "mq_deployment_mode" {
  type        = string
  description = "Amazon MQ: CLUSTER_MULTI_AZ (three nodes over three zones; Inkbus's quorum queues replicate over them) or SINGLE_INSTANCE."
  default     = "CLUSTER_MULTI_AZ"
  validation {
    condition     = contains(["CLUSTER_MULTI_AZ", "SINGLE_INSTANCE"], var.mq_deployment_mode)
    error_message = "Amazon MQ for RabbitMQ offers CLUSTER_MULTI_AZ or SINGLE_INSTANCE."
  }
}

variable "peer_cidr_blocks" {
  type        = list(string)
  description = "CIDRs of peered regions' VPCs whose brokers federate with this one (AMQPS); empty in one region."
  default     = []
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate of the public host name (HTTPS listener)."
}

variable "edge_port" {
  type        = number
  description = "Port the edge pods listen on (INKBUS_PORT)."
  default     = 8000
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic that receives the CloudWatch alarms."
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}

variable "k8s_namespace" {
  type        = string
  description = "Namespace of the app in the cluster (ops/k8s overlays): the learning loop's service account lives there."
  default     = "inkbus"
}
