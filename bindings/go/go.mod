module github.com/hearsay-project/hearsay/bindings/go

go 1.22
