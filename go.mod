module gemmavk

go 1.26
