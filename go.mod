module github.com/jwtrefresh/jwtrefresh

go 1.24.0

require (
	github.com/gofrs/flock v0.13.0
	golang.org/x/oauth2 v0.35.0
	golang.org/x/sync v0.19.0
)

require (
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sys v0.41.0 // indirect
)
