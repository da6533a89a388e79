"""Tests of tickets_bridge: one helpdesk ticket per incident."""
