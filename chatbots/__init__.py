"""Chat front ends (Slack, Discord, web) over one command core."""
