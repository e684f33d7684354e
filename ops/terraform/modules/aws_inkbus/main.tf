# Inkbus on AWS: EKS runs the pods (ops/k8s), the ALB fronts the edges, Amazon MQ is the RabbitMQ broker,
# ECR holds the image, S3 the model artifacts, CloudWatch watches it. docs/DEPLOY.md, "Terraform".

data "aws_caller_identity" "this" {}

# --- KMS: one key for the bucket, the registry, the cluster's secrets and the logs
resource "aws_kms_key" "this" {
  #checkov:skip=CKV2_AWS_64:the default key policy (account root delegates to IAM) is intended; IAM roles grant use
  description         = "${var.name}: S3 models, ECR, EKS secrets"
  enable_key_rotation = true
  tags                = var.tags
}

# --- ECR: one repository, one image for every role
resource "aws_ecr_repository" "inkbus" {
  name                 = "${var.name}/inkbus"
  image_tag_mutability = "IMMUTABLE" # a tag is a release: never rewritten under a running cluster
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }
  tags = var.tags
}

# --- S3: exported model artifacts (training in GCP copies its releases here)
resource "aws_s3_bucket" "models" {
  #checkov:skip=CKV_AWS_18:only CI writes and the nodes read; CloudTrail's management events record policy changes
  #checkov:skip=CKV_AWS_144:artifacts are reproducible: the GCS bucket of modules/gcp_ml keeps every trained model
  #checkov:skip=CKV2_AWS_62:nothing reacts to uploads; a release is deployed by CI, not by an event
  bucket = "${var.name}-models-${data.aws_caller_identity.this.account_id}"
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "models" {
  bucket = aws_s3_bucket.models.id
  versioning_configuration {
    status = "Enabled" # every model ever served can be restored
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "models" {
  bucket = aws_s3_bucket.models.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}

# Old versions move to cold storage; none is ever deleted (a served model must stay restorable).
resource "aws_s3_bucket_lifecycle_configuration" "models" {
  bucket = aws_s3_bucket.models.id
  rule {
    id     = "noncurrent-to-glacier"
    status = "Enabled"
    filter {}
    noncurrent_version_transition {
      noncurrent_days = 90
      storage_class   = "GLACIER"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_public_access_block" "models" {
  bucket                  = aws_s3_bucket.models.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# --- Amazon MQ for RabbitMQ: the bus. The password is generated and kept in Secrets Manager, never in code.
resource "random_password" "mq" {
  length  = 32
  special = false # it goes into an AMQP URL
}

resource "aws_secretsmanager_secret" "mq" {
  #checkov:skip=CKV2_AWS_57:rotation must also change the broker user; done by the runbook, not a Lambda yet
  name       = "${var.name}/rabbitmq"
  kms_key_id = aws_kms_key.this.arn
  tags       = var.tags
}

resource "aws_secretsmanager_secret_version" "mq" {
  secret_id     = aws_secretsmanager_secret.mq.id
  secret_string = jsonencode({ username = "inkbus", password = random_password.mq.result })
}

resource "aws_security_group" "mq" {
  name        = "${var.name}-mq"
  description = "AMQPS and the management API from inside the VPC only"
  vpc_id      = var.vpc_id
  ingress {
    description = "AMQPS from the VPC (pods) and from peered regions' brokers (federation, docs/SCALING.md)"
    from_port   = 5671
    to_port     = 5671
    protocol    = "tcp"
    cidr_blocks = concat([var.vpc_cidr_block], var.peer_cidr_blocks)
  }
  ingress {
    description = "Management API from the VPC (KEDA reads queue depth)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr_block]
  }
  tags = var.tags
}

resource "aws_mq_broker" "rabbitmq" {
  #checkov:skip=CKV_AWS_209:Amazon MQ for RabbitMQ supports only AWS-owned keys for encryption at rest
  broker_name                = "${var.name}-rabbitmq"
  engine_type                = "RabbitMQ"
  engine_version             = "3.13"
  host_instance_type         = var.mq_instance_type
  deployment_mode            = var.mq_deployment_mode # CLUSTER_MULTI_AZ: three nodes, one per zone
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  subnet_ids                 = var.private_subnet_ids
  security_groups            = [aws_security_group.mq.id]
  user {
    username = "inkbus"
    password = random_password.mq.result
  }
  logs {
    general = true
  }
  tags = var.tags
}

# --- EKS
data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_cloudwatch_log_group" "eks" {
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn
  vpc_config {
    subnet_ids              = var.private_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = false # operated from inside the VPC (bastion, CI runners)
  }
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  depends_on                = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.eks]
  tags                      = var.tags
}

resource "aws_eks_node_group" "app" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "app"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.private_subnet_ids
  instance_types  = var.node_instance_types
  scaling_config {
    min_size     = var.node_min
    desired_size = var.node_min
    max_size     = var.node_max
  }
  update_config {
    max_unavailable = 1 # with the PDBs, a node upgrade never takes the last edge or worker
  }
  depends_on = [aws_iam_role_policy_attachment.node]
  tags       = var.tags
}

# --- Model registry (docs/LEARNING_LOOP.md): s3://<models bucket>/registry. The nodes (edge, workers) read it;
# only the learning loop's service account writes, through EKS Pod Identity.
data "aws_iam_policy_document" "registry_read" {
  statement {
    sid       = "ListRegistry"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.models.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["registry/*"]
    }
  }
  statement {
    sid       = "ReadRegistry"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.models.arn}/registry/*"]
  }
  statement {
    sid       = "DecryptRegistry"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role_policy" "node_registry_read" {
  name   = "${var.name}-registry-read"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.registry_read.json
}

resource "aws_eks_addon" "pod_identity" {
  cluster_name = aws_eks_cluster.this.name
  addon_name   = "eks-pod-identity-agent"
  tags         = var.tags
}

data "aws_iam_policy_document" "loop_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "registry_write" {
  source_policy_documents = [data.aws_iam_policy_document.registry_read.json]
  statement {
    sid       = "WriteRegistry"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.models.arn}/registry/*"]
  }
  statement {
    sid       = "EncryptRegistry"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "loop" {
  name               = "${var.name}-learning-loop"
  assume_role_policy = data.aws_iam_policy_document.loop_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "loop_registry_write" {
  name   = "${var.name}-registry-write"
  role   = aws_iam_role.loop.id
  policy = data.aws_iam_policy_document.registry_write.json
}

resource "aws_eks_pod_identity_association" "loop" {
  cluster_name    = aws_eks_cluster.this.name
  namespace       = var.k8s_namespace
  service_account = "inkbus-loop" # ops/k8s/base/learning-loop-serviceaccount.yaml
  role_arn        = aws_iam_role.loop.arn
  depends_on      = [aws_eks_addon.pod_identity]
  tags            = var.tags
}

# GPU workers' nodes (ops/k8s/overlays/prod-gpu): NVIDIA's EKS AMI (driver and container toolkit installed), a label
# the GPU worker pods select and a taint only they tolerate, so no other pod takes a GPU node. Off with gpu_node_max = 0.
resource "aws_eks_node_group" "gpu" {
  count           = var.gpu_node_max > 0 ? 1 : 0
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "gpu"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.private_subnet_ids
  instance_types  = var.gpu_node_instance_types
  ami_type        = "AL2023_x86_64_NVIDIA"
  labels = {
    "inkbus/accelerator" = "nvidia"
  }
  taint {
    key    = "nvidia.com/gpu"
    value  = "present"
    effect = "NO_SCHEDULE"
  }
  scaling_config {
    min_size     = var.gpu_node_min
    desired_size = var.gpu_node_min
    max_size     = var.gpu_node_max
  }
  update_config {
    max_unavailable = 1 # the GPU workers' PDB allows one down at a time too
  }
  depends_on = [aws_iam_role_policy_attachment.node]
  tags       = var.tags
}

# --- ALB in front of the edge pods (registered by the AWS Load Balancer Controller's TargetGroupBinding)
resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "HTTPS from the internet to the ALB; the ALB to the edges"
  vpc_id      = var.vpc_id
  ingress {
    description = "HTTPS from learners' browsers"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "To the edge pods in the VPC"
    from_port   = var.edge_port
    to_port     = var.edge_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr_block]
  }
  tags = var.tags
}

resource "aws_lb" "edge" {
  #checkov:skip=CKV_AWS_91:each request is logged by the edges' JSON logs (docs/OBSERVABILITY.md); ALB logs would repeat them
  #checkov:skip=CKV2_AWS_28:no WAF yet: the edge validates and rate-limits every request and event (docs/PROTOCOL.md)
  name                       = "${var.name}-edge"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  idle_timeout               = 3600 # WebSocket drawing sessions stay open while idle
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  tags                       = var.tags
}

resource "aws_lb_target_group" "edge" {
  name        = "${var.name}-edge"
  port        = var.edge_port
  protocol    = "HTTP"
  vpc_id      = var.vpc_id
  target_type = "ip" # pods, not nodes
  # Like HAProxy (ops/haproxy/haproxy.cfg): ready = broker reachable and a worker consuming.
  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  # Socket.IO's polling transport must reach the edge that holds the session.
  stickiness {
    type            = "lb_cookie"
    cookie_duration = 3600
    enabled         = true
  }
  deregistration_delay = 30 # the edge's preStop (10 s) plus an HTTP recognition (10 s)
  tags                 = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.edge.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.edge.arn
  }
}

# --- CloudWatch alarms (Prometheus alerts cover the app itself: observability/prometheus/alerts.yml)
resource "aws_cloudwatch_metric_alarm" "edge_unhealthy" {
  alarm_name          = "${var.name}-edge-unhealthy-hosts"
  alarm_description   = "An edge fails /readyz behind the ALB"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  dimensions = {
    LoadBalancer = aws_lb.edge.arn_suffix
    TargetGroup  = aws_lb_target_group.edge.arn_suffix
  }
  alarm_actions = [var.alarm_topic_arn]
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "edge_5xx" {
  alarm_name          = "${var.name}-edge-5xx"
  alarm_description   = "Edges answer 5xx (broker down, no workers, timeouts)"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 50
  treat_missing_data  = "notBreaching"
  dimensions = {
    LoadBalancer = aws_lb.edge.arn_suffix
  }
  alarm_actions = [var.alarm_topic_arn]
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  alarm_name          = "${var.name}-recognize-queue-depth"
  alarm_description   = "Jobs pile up in inkbus.recognize faster than KEDA adds workers"
  namespace           = "AWS/AmazonMQ"
  metric_name         = "MessageCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 2000
  dimensions = {
    Broker      = aws_mq_broker.rabbitmq.broker_name
    VirtualHost = "/"
    Queue       = "inkbus.recognize"
  }
  alarm_actions = [var.alarm_topic_arn]
  tags          = var.tags
}
