from mlops_course.cli import main

main()
