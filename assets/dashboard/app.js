"use strict"; sessionStorage;
