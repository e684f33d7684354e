"""Chat front ends (Slack, Discord, web) over one command core: step 4 builds them."""
