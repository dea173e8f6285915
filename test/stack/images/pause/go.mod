module local.kubeless/stack/pause

go 1.25.0
