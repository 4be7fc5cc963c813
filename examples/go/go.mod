module example.com/toss-go

go 1.19
